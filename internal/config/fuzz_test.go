package config

import (
	"errors"
	"os"
	"testing"
)

// FuzzLoad: any input either loads into a config that Validate accepts, or
// fails with well-formed errors; it never panics or hangs.
func FuzzLoad(f *testing.F) {
	full, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(full),
		goodChannel + goodUsersKeys,
		"",
		"~",
		"server: [\n",
		"a: &a [*a]\n",
		"x-c: &c {type: openai}\nchannels: [{<<: *c, name: a}, {<<: [*c, *c], name: b}]\n",
		"server: {listen: '${PORT:-8080}', public_url: $${X}}\n",
		"channels: [{credentials: [{key: ${K}, weight: ${W}}]}]\n",
		"pricing: {m: {per_image: {default: 1e400}}}\n",
		"keys: [{quota: ~}, {quota: '${Q:-}'}]\n",
		"---\n---\n",
	} {
		f.Add([]byte(seed))
	}
	env := fakeEnv(fullEnv)
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := load(data, LoadOptions{LookupEnv: env})
		if err != nil {
			var errs Errors
			if !errors.As(err, &errs) {
				return // file-level error (syntax): nothing more to check
			}
			if len(errs) == 0 {
				t.Fatal("empty Errors returned as an error")
			}
			last := 0
			for _, e := range errs {
				if e.Message == "" {
					t.Fatalf("error at %q has no message", e.Path)
				}
				if e.Line != 0 {
					if e.Line < last {
						t.Fatalf("errors out of source order: %v", err)
					}
					last = e.Line
				}
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load accepted a config that Validate rejects: %v", err)
		}
	})
}
