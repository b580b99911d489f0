package mock

import (
	"encoding/json"
	"hash/fnv"
	"strings"
	"unicode/utf8"
)

// convo is what the mock takes from any provider's request: enough to count
// prompt tokens, quote the user, and decide between text and a tool call.
type convo struct {
	chars      int // bytes of all input text
	images     int
	lastUser   string
	afterTool  bool   // the last message is a tool result
	toolResult string // its text
	tools      []toolDecl
	choice     string // "" or "auto", "none", "required" (any tool), or a tool name
}

type toolDecl struct {
	name   string
	schema json.RawMessage
}

// imageTokens is what each input image adds to the prompt count: a flat,
// plausible figure (OpenAI's low-detail cost) that keeps usage predictable.
const imageTokens = 85

func (cv *convo) text(s string) { cv.chars += len(s) }

func (cv *convo) promptTokens() int {
	return max(1, cv.chars/4+cv.images*imageTokens)
}

// answer is the deterministic reply to a convo: either n text pieces or one
// tool call. Pieces are produced on demand so a stream of any length needs
// no buffer.
type answer struct {
	model  string
	n      int // text pieces / stream chunks
	head   string
	seed   int
	long   string // line_bytes piece, placed at index longAt
	longAt int

	tool     bool
	toolName string
	args     string
	callID   string

	usage usage
}

type usage struct {
	prompt, completion int
	cached, cacheWrite int  // subsets of prompt
	none               bool // fault no_usage: OpenAI-shaped answers carry no usage
}

var fillers = strings.Fields("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima " +
	"mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu")

// fillerPieces are the filler words with their leading space, built once.
var fillerPieces = func() []string {
	out := make([]string, len(fillers))
	for i, w := range fillers {
		out[i] = " " + w
	}
	return out
}()

const defaultChunks = 8

// plan decides the answer for a conversation under the call's fault.
func (c *call) plan(cv *convo, model string) *answer {
	f := c.fault
	a := &answer{model: model, n: defaultChunks}
	if f.Chunks > 0 {
		a.n = f.Chunks
	}
	if len(cv.tools) > 0 && cv.choice != "none" && !cv.afterTool {
		a.tool = true
		decl := cv.tools[0]
		if cv.choice != "" && cv.choice != "auto" && cv.choice != "required" {
			decl = toolDecl{name: cv.choice}
			for _, t := range cv.tools {
				if t.name == cv.choice {
					decl = t
				}
			}
		}
		if f.Tool != "" {
			for _, t := range cv.tools {
				if t.name == f.Tool {
					decl = t
				}
			}
		}
		a.toolName = decl.name
		a.args = argsFromSchema(decl.schema)
		if k, v, ok := strings.Cut(f.ToolArg, ":"); ok {
			a.args = withArg(a.args, k, v)
		}
		a.callID = c.s.newID("call_")
	} else {
		quote, prefix := cv.lastUser, "Mock reply to: "
		if cv.afterTool {
			quote, prefix = cv.toolResult, "Mock reply to tool result: "
		}
		quote = strings.Join(strings.Fields(stripDirectives(quote)), " ")
		if quote == "" {
			a.head = "Mock reply."
		} else {
			a.head = prefix + firstRunes(quote, 40)
		}
		h := fnv.New32a()
		h.Write([]byte(quote))
		a.seed = int(h.Sum32() % uint32(len(fillers)))
		if f.LineBytes > 0 {
			a.long = " " + strings.Repeat("x", max(1, f.LineBytes-1))
			a.longAt = min(1, a.n-1)
		}
	}
	a.usage = usage{prompt: cv.promptTokens(), completion: a.completionTokens()}
	a.usage.cached = min(f.CachedTokens, a.usage.prompt)
	a.usage.cacheWrite = min(f.CacheWriteTokens, a.usage.prompt-a.usage.cached)
	a.usage.none = f.NoUsage
	return a
}

func firstRunes(s string, n int) string {
	for i := range s {
		if n == 0 {
			return s[:i]
		}
		n--
	}
	return s
}

// piece returns text piece i (0 ≤ i < n).
func (a *answer) piece(i int) string {
	var p string
	switch {
	case i == 0:
		p = a.head
	default:
		p = fillerPieces[(a.seed+i)%len(fillerPieces)]
	}
	if a.long != "" && i == a.longAt {
		if i == 0 {
			return p + a.long
		}
		return a.long
	}
	return p
}

// text is the whole reply, for non-stream answers and "done" events.
func (a *answer) text() string {
	var b strings.Builder
	for i := range a.n {
		b.WriteString(a.piece(i))
	}
	return b.String()
}

// completionTokens counts words for text (what a stream delivers, word by
// word) and a quarter of the bytes for a tool call, the same both ways.
func (a *answer) completionTokens() int {
	if a.tool {
		return max(1, (len(a.toolName)+len(a.args))/4)
	}
	return a.wordsThrough(a.n - 1)
}

// wordsThrough is the completion tokens produced by pieces 0..i, for
// providers whose stream chunks carry running usage.
func (a *answer) wordsThrough(i int) int {
	w := len(strings.Fields(a.head)) + i
	if a.long != "" && a.longAt == 0 {
		w++
	}
	return w
}

// argPieces splits the tool arguments into up to n fragments on rune
// boundaries, the way providers stream them.
func (a *answer) argPieces() []string {
	k := min(a.n, len(a.args))
	if k <= 1 {
		return []string{a.args}
	}
	out := make([]string, 0, k)
	size := (len(a.args) + k - 1) / k
	for rest := a.args; rest != ""; {
		cut := min(size, len(rest))
		for cut < len(rest) && !utf8.RuneStart(rest[cut]) {
			cut++
		}
		out = append(out, rest[:cut])
		rest = rest[cut:]
	}
	return out
}

// argsMap is the tool arguments as a JSON object value (Anthropic and Gemini
// carry objects, OpenAI a string).
func (a *answer) argsMap() json.RawMessage { return json.RawMessage(a.args) }

// schemaNode is the part of a JSON Schema (or Gemini's Schema, whose types
// are upper-case) that argument synthesis reads.
type schemaNode struct {
	Type       any                        `json:"type"`
	Properties map[string]json.RawMessage `json:"properties"`
	Required   []string                   `json:"required"`
	Enum       []any                      `json:"enum"`
}

// argsFromSchema fills each required property: strings "mock", numbers 1,
// booleans true, enums their first value, objects recursively.
// withArg sets one string member of a JSON object of arguments.
func withArg(args, key, value string) string {
	var m map[string]any
	if json.Unmarshal([]byte(args), &m) != nil || m == nil {
		m = map[string]any{}
	}
	m[key] = value
	b, err := json.Marshal(m)
	if err != nil {
		return args
	}
	return string(b)
}

func argsFromSchema(schema json.RawMessage) string {
	v := valueFor(schema, 0)
	if _, ok := v.(map[string]any); !ok {
		v = map[string]any{}
	}
	b, err := json.Marshal(v) // map keys are sorted: deterministic arguments
	if err != nil {
		return "{}"
	}
	return string(b)
}

func valueFor(raw json.RawMessage, depth int) any {
	var n schemaNode
	if len(raw) == 0 || json.Unmarshal(raw, &n) != nil || depth > 8 {
		return map[string]any{}
	}
	if len(n.Enum) > 0 {
		return n.Enum[0]
	}
	typ := ""
	switch t := n.Type.(type) {
	case string:
		typ = t
	case []any: // ["string", "null"]
		for _, x := range t {
			if s, ok := x.(string); ok && s != "null" {
				typ = s
				break
			}
		}
	}
	switch strings.ToLower(typ) {
	case "string":
		return "mock"
	case "number", "integer":
		return 1
	case "boolean":
		return true
	case "array":
		return []any{}
	case "null":
		return nil
	case "object", "":
		obj := map[string]any{}
		for _, name := range n.Required {
			obj[name] = valueFor(n.Properties[name], depth+1)
		}
		return obj
	}
	return "mock"
}
