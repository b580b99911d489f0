package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// expand substitutes ${VAR} and ${VAR:-default} in one scalar, and turns $$
// into a literal $. A $ followed by anything else is kept as written, so
// passwords and regexps containing a lone $ need no escaping.
//
// An unset variable without a default is an error rather than "" because a
// silently empty API key or password fails much later and far from its cause.
// ${VAR:-default} uses the default when VAR is unset or empty, as sh does.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "$") {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 >= len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i+2:], '}')
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ (write $$ for a literal $)")
		}
		expr := s[i+2 : i+2+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validVarName(name) {
			// Not echoed: this text may sit in a secret field.
			return "", fmt.Errorf("${...} must hold an environment variable name (letters, digits, _), optionally followed by :-default")
		}
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			val = def
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set (set it, or write ${%s:-default})", name, name)
		}
		b.WriteString(val)
		i += 2 + end + 1
	}
	return b.String(), nil
}

func validVarName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// A plain YAML scalar in flow style cannot contain { or }, so the natural
// `{key: ${OPENAI_KEY}}` (as DESIGN.md writes it) is a YAML syntax error. When
// a file fails to parse, the loader retries with every single-line ${…}
// replaced by a placeholder of plain characters and puts the original text
// back into the parsed scalars before expansion. Files that parse as written
// never take this path, so their quoted strings keep exact YAML semantics.
const varPlaceholder = "__SWITCHYARD_VAR_"

// protectVars returns data with each ${…} replaced by a placeholder, and the
// replaced texts; ok is false when there was nothing to protect.
func protectVars(data []byte) (out []byte, vars []string, ok bool) {
	if bytes.Contains(data, []byte(varPlaceholder)) {
		return nil, nil, false
	}
	out = make([]byte, 0, len(data))
	for i := 0; i < len(data); {
		if data[i] != '$' || i+1 >= len(data) {
			out = append(out, data[i])
			i++
			continue
		}
		if data[i+1] == '$' {
			out = append(out, '$', '$')
			i += 2
			continue
		}
		end := -1
		if data[i+1] == '{' {
			for j := i + 2; j < len(data) && data[j] != '\n'; j++ {
				if data[j] == '}' {
					end = j
					break
				}
			}
		}
		if end < 0 {
			out = append(out, '$')
			i++
			continue
		}
		out = append(out, varPlaceholder+strconv.Itoa(len(vars))+"__"...)
		vars = append(vars, string(data[i:end+1]))
		i = end + 1
	}
	return out, vars, len(vars) > 0
}

// restoreVars puts the texts replaced by protectVars back into every scalar.
func restoreVars(n *yaml.Node, vars []string) {
	pairs := make([]string, 0, 2*len(vars))
	for i, v := range vars {
		pairs = append(pairs, varPlaceholder+strconv.Itoa(i)+"__", v)
	}
	r := strings.NewReplacer(pairs...)
	var walk func(*yaml.Node)
	walk = func(n *yaml.Node) {
		if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, varPlaceholder) {
			n.Value = r.Replace(n.Value)
		}
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(n)
}
