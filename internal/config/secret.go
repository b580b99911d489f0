package config

import (
	"fmt"
	"io"
	"log/slog"
)

const redacted = "[redacted]"

// Compile-time guards: every way a value can be printed goes through a
// redacting method.
var (
	_ fmt.Stringer   = Secret("")
	_ fmt.GoStringer = Secret("")
	_ fmt.Formatter  = Secret("")
	_ slog.LogValuer = Secret("")
)

// Value returns the secret itself. It is the only accessor that does, so a
// grep for `.Value()` finds every place a secret leaves this type.
func (s Secret) Value() string { return string(s) }

// IsSet reports whether a value was configured.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) mask() string {
	if s == "" {
		return ""
	}
	return redacted
}

// String implements fmt.Stringer.
func (s Secret) String() string { return s.mask() }

// GoString implements fmt.GoStringer (%#v).
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.mask()) }

// Format implements fmt.Formatter. Without it, verbs that fmt does not route
// through String (%d, %t, …) would print the underlying string.
func (s Secret) Format(f fmt.State, verb rune) {
	switch verb {
	case 'q':
		_, _ = fmt.Fprintf(f, "%q", s.mask())
	case 'v':
		if f.Flag('#') {
			_, _ = io.WriteString(f, s.GoString())
			return
		}
		_, _ = io.WriteString(f, s.mask())
	default:
		_, _ = io.WriteString(f, s.mask())
	}
}

// MarshalText implements encoding.TextMarshaler, which encoding/json and
// yaml.v3 use, so a marshalled Config never carries secrets.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.mask()), nil }

// LogValue implements slog.LogValuer.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.mask()) }
