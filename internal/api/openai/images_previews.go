package openai

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/switchyard/switchyard/internal/images"
	"github.com/switchyard/switchyard/internal/provider"
	"github.com/switchyard/switchyard/internal/relay"
	"github.com/switchyard/switchyard/internal/sse"
)

// Partial previews of async tasks. A client that streams a synchronous
// request gets the upstream's partial_image events as they come; an async
// task has no client connection to stream to, so when it asks for
// partial_images its run streams from the upstream itself, keeps each
// preview in memory (images.Previews, never in storage) for the studio's
// event stream, and stores each completed image as a non-streamed answer's.

// streams reports whether this call asks the upstream for a stream.
func (x *imageExchange) streams() bool { return x.job.Stream || x.previewing() }

// previewing reports whether this is an async run that streams for its
// previews. DALL·E models do not stream, so they are asked as usual.
func (x *imageExchange) previewing() bool {
	return x.async != nil && x.job.Partials > 0 && x.h.img.o.Previews != nil && !strings.HasPrefix(x.job.Model, "dall-e")
}

// previewStream reads an async run's upstream stream: partial images go
// to the previews, completed ones to the image store, and each stored one
// is noted as a small event (which commits the attempt, so it is billed
// as a relayed stream is).
type previewStream struct {
	x     *imageExchange
	t     *relay.Target
	done  int // completed images so far: the next image's offset
	usage relay.Usage
	err   []byte
}

func (s *previewStream) Feed(ev sse.Event, emit func(string, []byte) error) error {
	x := s.x
	switch {
	case strings.HasSuffix(ev.Name, ".partial_image"):
		if s.done >= x.n {
			return nil
		}
		var e struct {
			B64     string `json:"b64_json"`
			Partial int    `json:"partial_image_index"`
		}
		if json.Unmarshal(ev.Data, &e) != nil || e.B64 == "" {
			return nil // a preview is a nicety: a bad one is skipped
		}
		raw, err := base64.StdEncoding.DecodeString(e.B64)
		if err != nil {
			return nil
		}
		x.h.img.o.Previews.Put(x.task, images.Preview{Index: x.base + s.done, Partial: e.Partial, Data: raw,
			ContentType: http.DetectContentType(raw)})
		return nil
	case strings.HasSuffix(ev.Name, ".completed"):
		if s.done >= x.n {
			return nil // never more than asked (and reserved)
		}
		var d map[string]json.RawMessage
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			return fmt.Errorf("decode %s: %w", ev.Name, err)
		}
		index := x.base + s.done
		s.done++
		if u := usageOf(d["usage"]); u.PromptTokens+u.CompletionTokens > 0 {
			s.usage.PromptTokens += u.PromptTokens
			s.usage.CompletionTokens += u.CompletionTokens
		}
		delete(d, "usage")
		delete(d, "type")
		if _, err := x.convert(s.t, index, d); err != nil {
			x.h.log.LogAttrs(x.ctx, slog.LevelWarn, "image not delivered", slog.String("task", x.task),
				slog.Int("index", index), slog.String("error", err.Error()))
			return nil
		}
		s.usage.Images++
		return emit("image.stored", []byte(`{"index":`+strconv.Itoa(index)+`}`))
	case ev.Name == "error":
		var e struct {
			Error struct {
				Type    string `json:"type"`
				Message string `json:"message"`
			} `json:"error"`
		}
		_ = json.Unmarshal(ev.Data, &e)
		s.err = append([]byte(nil), ev.Data...)
		return &provider.StreamError{Type: e.Error.Type, Message: e.Error.Message}
	}
	return nil
}

// Finish checks, as a non-streamed answer is checked before it is
// charged, that the task is still this run's: an abandoned one costs
// nothing and its stored images are deleted.
func (s *previewStream) Finish(func(string, []byte) error) error {
	if s.x.abandoned() {
		s.usage = relay.Usage{}
		return s.x.drop()
	}
	if s.usage.Images == 0 {
		return errors.New("the upstream's stream delivered no image")
	}
	return nil
}

func (s *previewStream) Usage() relay.Usage { return s.usage }

func (s *previewStream) Abort() (string, []byte) {
	if s.err != nil {
		return "error", s.err
	}
	return "error", imageAbort
}
