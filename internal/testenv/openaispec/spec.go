// Package openaispec carries OpenAI's OpenAPI description of its REST API
// inside the repository, so that tests can hold what Switchyard sends and
// answers to the schemas the official SDKs are generated from, on any clone.
// Origin, version and licence: README.md and LICENSE beside this file.
package openaispec

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"io"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
)

// The YAML is 2.9 MB; gzipped it is 0.36 MB, and decompressing costs a few
// milliseconds beside the second the loader takes to parse it.
//
//go:embed openai-openapi.yaml.gz
var specGz []byte

// Load parses the description once per process.
var Load = sync.OnceValues(func() (*openapi3.T, error) {
	zr, err := gzip.NewReader(bytes.NewReader(specGz))
	if err != nil {
		return nil, fmt.Errorf("open the embedded OpenAI spec: %w", err)
	}
	data, err := io.ReadAll(zr)
	if err != nil {
		return nil, fmt.Errorf("decompress the embedded OpenAI spec: %w", err)
	}
	spec, err := openapi3.NewLoader().LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("parse the embedded OpenAI spec: %w", err)
	}
	return spec, nil
})

// Schema returns a component schema by name.
func Schema(name string) (*openapi3.Schema, error) {
	spec, err := Load()
	if err != nil {
		return nil, err
	}
	ref := spec.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		return nil, fmt.Errorf("schema %s is not in the OpenAI spec", name)
	}
	return ref.Value, nil
}
