package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// AppendChunk encodes c into buf (reset first) with a reused encoder, for
// stream translators that emit one chunk per upstream event. The returned
// bytes alias buf and carry no trailing newline.
func AppendChunk(buf *bytes.Buffer, enc **json.Encoder, c *ChatChunk) ([]byte, error) {
	buf.Reset()
	if *enc == nil {
		*enc = json.NewEncoder(buf)
		(*enc).SetEscapeHTML(false)
	}
	if err := (*enc).Encode(c); err != nil {
		return nil, fmt.Errorf("encode chat chunk: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}
