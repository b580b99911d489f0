package golden

import (
	"encoding/json"
	"path/filepath"
	"runtime"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

var (
	specOnce sync.Once
	spec     *openapi3.T
	specErr  error
)

// ValidateOpenAI checks payload against a component schema of the OpenAI
// spec shipped beside DESIGN.md (shared/specs/openai-openapi.yaml), so the
// translations are held to what the official SDKs are generated from.
func ValidateOpenAI(t testing.TB, schema string, payload []byte) {
	t.Helper()
	specOnce.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		path := filepath.Join(filepath.Dir(file), "../../../../../shared/specs/openai-openapi.yaml")
		spec, specErr = openapi3.NewLoader().LoadFromFile(path)
	})
	if specErr != nil {
		t.Fatalf("load OpenAI spec: %v", specErr)
	}
	ref := spec.Components.Schemas[schema]
	if ref == nil || ref.Value == nil {
		t.Fatalf("schema %s not in spec", schema)
	}
	var v any
	if err := json.Unmarshal(payload, &v); err != nil {
		t.Fatal(err)
	}
	if err := ref.Value.VisitJSON(v, openapi3.MultiErrors()); err != nil {
		t.Errorf("payload does not match the spec's %s:\n%.2000v\npayload: %s", schema, err, payload)
	}
}
