package config

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// TestDocsCoverEverySetting keeps docs/configuration.md complete: every
// environment override and every field name of every config type must be
// documented.
func TestDocsCoverEverySetting(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	doc := string(b)
	for _, ev := range EnvOverrides() {
		if !strings.Contains(doc, "`"+ev.Name+"`") {
			t.Errorf("docs/configuration.md does not mention %s (%s)", ev.Name, ev.Path)
		}
	}
	seen := map[reflect.Type]bool{}
	var walk func(t reflect.Type, path string)
	walk = func(typ reflect.Type, path string) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice || typ.Kind() == reflect.Map {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || typ == timeType || seen[typ] {
			return
		}
		seen[typ] = true
		f := fieldsOf(typ)
		for _, name := range f.names {
			if !strings.Contains(doc, "`"+name+"`") {
				t.Errorf("docs/configuration.md does not document field %s", joinPath(path, name))
			}
			walk(typ.Field(f.index[name]).Type, joinPath(path, name))
		}
	}
	walk(reflect.TypeFor[Config](), "")
}

// TestDocsExampleLoads keeps the "Full example" in docs/configuration.md
// loadable, both with its variables set and with the optional ones unset.
func TestDocsExampleLoads(t *testing.T) {
	b, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatalf("read docs: %v", err)
	}
	_, rest, ok := strings.Cut(string(b), "## Full example\n\n```yaml\n")
	if !ok {
		t.Fatal("docs/configuration.md has no Full example yaml block")
	}
	example, _, _ := strings.Cut(rest, "```")
	withoutSecretKey := map[string]string{}
	for k, v := range fullEnv {
		if k != "SWITCHYARD_SECRET_KEY" {
			withoutSecretKey[k] = v
		}
	}
	for name, env := range map[string]map[string]string{"all set": fullEnv, "secret_key unset": withoutSecretKey} {
		c, err := loadYAML(t, example, env, nil)
		if err != nil {
			t.Fatalf("%s: docs example does not load:\n%v", name, err)
		}
		if len(c.Channels) != 2 || c.Keys[0].ExpiresAt.Year() != 2027 {
			t.Errorf("%s: docs example loaded unexpectedly: %+v", name, c)
		}
	}
}
