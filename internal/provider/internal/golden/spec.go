package golden

import (
	"encoding/json"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/switchyard/switchyard/internal/testenv/openaispec"
)

// ValidateOpenAI checks payload against a component schema of OpenAI's
// OpenAPI description (carried in the repository by openaispec), so the
// translations are held to what the official SDKs are generated from.
func ValidateOpenAI(t testing.TB, schema string, payload []byte) {
	t.Helper()
	s, err := openaispec.Schema(schema)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	if err := s.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("payload does not match the spec's %s:\n%.2000v\npayload: %s", schema, err, payload)
	}
}
