package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// EnvPrefix starts every environment override.
const EnvPrefix = "SWITCHYARD_"

// EnvVar is one environment override: Name sets the setting at Path.
type EnvVar struct {
	Name string // SWITCHYARD_SERVER_LISTEN
	Path string // server.listen
}

// EnvOverrides lists every environment variable Load reads, in the order of
// the Config fields: SWITCHYARD_<SECTION>_<FIELD> for each single-valued
// field (and string list, comma-separated) of each top-level section, and
// SWITCHYARD_<FIELD> for top-level single values such as secret_key. Lists
// of resources (channels, users, …) have no overrides.
func EnvOverrides() []EnvVar {
	envOnce.Do(func() { envVars = buildEnvVars() })
	return append([]EnvVar(nil), envVars...)
}

var (
	envOnce sync.Once
	envVars []EnvVar
)

func buildEnvVars() []EnvVar {
	var out []EnvVar
	t := reflect.TypeFor[Config]()
	top := fieldsOf(t)
	for _, name := range fieldNamesInOrder(t) {
		ft := t.Field(top.index[name]).Type
		if overridable(ft) {
			out = append(out, EnvVar{Name: envName(name), Path: name})
			continue
		}
		if ft.Kind() != reflect.Struct || ft == timeType {
			continue
		}
		for _, sub := range fieldNamesInOrder(ft) {
			if overridable(ft.Field(fieldsOf(ft).index[sub]).Type) {
				out = append(out, EnvVar{Name: envName(name + "_" + sub), Path: name + "." + sub})
			}
		}
	}
	return out
}

func envName(s string) string {
	return EnvPrefix + strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(s))
}

func fieldNamesInOrder(t reflect.Type) []string {
	f := fieldsOf(t)
	names := append([]string(nil), f.names...)
	sort.Slice(names, func(i, j int) bool { return f.index[names[i]] < f.index[names[j]] })
	return names
}

// overridable reports whether one string can set a field of type t.
func overridable(t reflect.Type) bool {
	if t == durationType || t == timeType {
		return true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return overridable(t.Elem())
	case reflect.Slice:
		return t.Elem().Kind() == reflect.String
	case reflect.Struct, reflect.Map, reflect.Interface, reflect.Array, reflect.Func, reflect.Chan:
		return false
	}
	return true
}

// applyEnv sets every override whose variable is non-empty. Empty counts as
// unset because compose files and systemd units routinely pass VAR= through
// for variables the operator did not set.
func applyEnv(c *Config, lookup func(string) (string, bool), origins map[string]string) Errors {
	var errs Errors
	root := reflect.ValueOf(c).Elem()
	for _, ev := range EnvOverrides() {
		val, ok := lookup(ev.Name)
		if !ok || val == "" {
			continue
		}
		elems, _ := parsePath(ev.Path)
		if err := setPath(root, elems, val); err != nil {
			errs = append(errs, FieldError{Path: ev.Path, Message: fmt.Sprintf("%v (from environment variable %s)", err, ev.Name)})
			continue
		}
		origins[ev.Path] = "environment variable " + ev.Name
	}
	return errs
}

// applySet applies dotted-path assignments (command-line flags), in path
// order so errors come out the same way every time.
func applySet(c *Config, set map[string]string, origins map[string]string) Errors {
	var errs Errors
	paths := make([]string, 0, len(set))
	for p := range set {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	root := reflect.ValueOf(c).Elem()
	for _, p := range paths {
		elems, err := parsePath(p)
		if err == nil {
			err = setPath(root, elems, set[p])
		}
		if err != nil {
			errs = append(errs, FieldError{Path: p, Message: fmt.Sprintf("%v (from the command line)", err)})
			continue
		}
		origins[canonicalPath(elems)] = "the command line"
	}
	return errs
}

// pathElem is one step of a path: a field or map key, or a list index.
type pathElem struct {
	name    string
	index   int
	isIndex bool
}

// parsePath reads server.listen, channels[0].weight,
// pricing.gpt-4o.input and pricing["gpt-3.5-turbo"].input.
func parsePath(s string) ([]pathElem, error) {
	var out []pathElem
	i := 0
	for i < len(s) {
		switch {
		case s[i] == '[':
			end := strings.IndexByte(s[i:], ']')
			if s[i:] != "" && strings.HasPrefix(s[i+1:], `"`) {
				// Find the closing quote honouring escapes, then expect ].
				q, err := strconv.QuotedPrefix(s[i+1:])
				if err != nil || !strings.HasPrefix(s[i+1+len(q):], "]") {
					return nil, fmt.Errorf("bad quoted key in path %q", s)
				}
				key, _ := strconv.Unquote(q)
				out = append(out, pathElem{name: key})
				i += 1 + len(q) + 1
				break
			}
			if end < 0 {
				return nil, fmt.Errorf("unclosed [ in path %q", s)
			}
			n, err := strconv.Atoi(s[i+1 : i+end])
			if err != nil || n < 0 {
				return nil, fmt.Errorf("%q in path %q is not a list index", s[i+1:i+end], s)
			}
			out = append(out, pathElem{index: n, isIndex: true})
			i += end + 1
		case s[i] == '.':
			if i == 0 || i == len(s)-1 || s[i+1] == '.' || s[i+1] == '[' {
				return nil, fmt.Errorf("empty name in path %q", s)
			}
			i++
		default:
			end := strings.IndexAny(s[i:], ".[")
			if end < 0 {
				end = len(s) - i
			}
			out = append(out, pathElem{name: s[i : i+end]})
			i += end
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return out, nil
}

// canonicalPath renders elems the way the decoder and Validate write paths.
func canonicalPath(elems []pathElem) string {
	var path string
	for _, e := range elems {
		if e.isIndex {
			path += "[" + strconv.Itoa(e.index) + "]"
		} else {
			path = mapKeyPath(path, e.name)
		}
	}
	return path
}

// setPath walks v along elems and sets the final setting from raw. Map
// entries are copied out, changed and stored back because map elements are
// not addressable; a missing map entry is created with its defaults.
func setPath(v reflect.Value, elems []pathElem, raw string) error {
	if len(elems) == 0 {
		return setOverride(v, raw)
	}
	e := elems[0]
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(t.Elem()))
		}
		return setPath(v.Elem(), elems, raw)
	case t.Kind() == reflect.Struct && t != timeType:
		if e.isIndex {
			return fmt.Errorf("[%d]: this is a section, not a list", e.index)
		}
		f := fieldsOf(t)
		idx, ok := f.index[e.name]
		if !ok {
			return fmt.Errorf("%q: unknown field%s", e.name, suggest(e.name, f.names))
		}
		return setPath(v.Field(idx), elems[1:], raw)
	case t.Kind() == reflect.Slice:
		if !e.isIndex {
			return fmt.Errorf("%q: this is a list; address an entry as [index]", e.name)
		}
		if e.index >= v.Len() {
			return fmt.Errorf("[%d]: index out of range (the list has %d entries)", e.index, v.Len())
		}
		return setPath(v.Index(e.index), elems[1:], raw)
	case t.Kind() == reflect.Map && t.Key().Kind() == reflect.String:
		if e.isIndex {
			return fmt.Errorf("[%d]: this is a mapping, not a list", e.index)
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(t))
		}
		key := reflect.ValueOf(e.name).Convert(t.Key())
		elem := reflect.New(t.Elem()).Elem()
		if old := v.MapIndex(key); old.IsValid() {
			elem.Set(old)
		} else {
			applyDefaults(elem)
		}
		if err := setPath(elem, elems[1:], raw); err != nil {
			return err
		}
		v.SetMapIndex(key, elem)
		return nil
	}
	return fmt.Errorf("%s holds a single value; it has no %q", describeType(t), e.name)
}

// setOverride sets one setting from a string: a scalar, an optional scalar
// (*float64), or a comma-separated list of strings.
func setOverride(v reflect.Value, raw string) error {
	t := v.Type()
	switch {
	case t.Kind() == reflect.Pointer && overridable(t):
		if raw == "" {
			v.SetZero()
			return nil
		}
		p := reflect.New(t.Elem())
		if err := setOverride(p.Elem(), raw); err != nil {
			return err
		}
		v.Set(p)
		return nil
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		var items []string
		for _, part := range strings.Split(raw, ",") {
			if part = strings.TrimSpace(part); part != "" {
				items = append(items, part)
			}
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			s.Index(i).SetString(it)
		}
		v.Set(s)
		return nil
	case !overridable(t):
		return fmt.Errorf("is %s; set one of its settings instead (for example server.listen)", describeType(t))
	}
	return setScalar(v, raw)
}
