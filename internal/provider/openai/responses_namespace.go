package openai

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/switchyard/switchyard/internal/provider"
)

// Namespace tools ({"type":"namespace","name":"mcp__docs__","tools":[…]},
// which Codex sends for MCP servers) group function tools; the model calls
// one as {"namespace":…,"name":…}. Chat and the other upstreams know only
// flat function names, so each namespaced function gets an upstream name
// and the answer's calls get their namespace and name back:
//   - the upstream name is namespace + name when the namespace already ends
//     in "__" (Codex's "mcp__server__"), else namespace + "__" + name, with
//     every byte outside [A-Za-z0-9_-] replaced by "_" (the character set
//     Anthropic, Gemini and OpenAI all accept);
//   - when that name is taken (a top-level function of that name, another
//     namespace that flattens the same) or longer than 64 bytes, it is
//     name + "_" + 8 hex digits of a hash of namespace and name, cut to 64.
//     Top-level functions keep their names; namespaced ones are named in
//     request order, so every turn of a conversation with the same tools
//     gets the same names;
//   - a function_call of the input history carrying a namespace is sent
//     under its tool's upstream name (or the first rule's name when the
//     tool is no longer offered), and tool_choice {type function, namespace,
//     name} names the upstream function.

// maxToolName is the longest function name every upstream accepts.
const maxToolName = 64

// toolNames maps namespaced functions to upstream names and back.
type toolNames struct {
	flat  map[[2]string]string // {namespace, name} → upstream name
	qual  map[string][2]string // upstream name → {namespace, name}
	taken map[string]bool
}

// namespaceNames builds the names for req's tools; nil when it has no
// namespace tool. It fails only when two names cannot be told apart.
func namespaceNames(req *ResponsesRequest) (*toolNames, error) {
	var tn *toolNames
	for _, t := range req.Tools {
		if t.Type == "namespace" {
			tn = &toolNames{flat: map[[2]string]string{}, qual: map[string][2]string{}, taken: map[string]bool{}}
			break
		}
	}
	if tn == nil {
		return nil, nil
	}
	for _, t := range req.Tools {
		if t.Type == "function" {
			tn.taken[t.Name] = true
		}
	}
	for i, t := range req.Tools {
		if t.Type != "namespace" {
			continue
		}
		for j, f := range t.Tools {
			key := [2]string{t.Name, f.Name}
			if _, dup := tn.flat[key]; dup {
				return nil, provider.Invalid(fmt.Sprintf("tools[%d].tools[%d].name", i, j), "appears twice in namespace "+t.Name)
			}
			name := flatName(t.Name, f.Name)
			if tn.taken[name] || len(name) > maxToolName {
				name = hashedName(t.Name, f.Name)
			}
			if tn.taken[name] {
				return nil, provider.Invalid(fmt.Sprintf("tools[%d].tools[%d].name", i, j), "collides with another tool's name")
			}
			tn.taken[name] = true
			tn.flat[key] = name
			tn.qual[name] = key
		}
	}
	return tn, nil
}

// upstream returns the upstream name of namespace's function name.
func (tn *toolNames) upstream(namespace, name string) string {
	if namespace == "" {
		return name
	}
	if tn != nil {
		if n, ok := tn.flat[[2]string{namespace, name}]; ok {
			return n
		}
	}
	return flatName(namespace, name)
}

// client returns the namespace and name a client knows an upstream
// function name by ("" namespace for a plain function).
func (tn *toolNames) client(upstream string) (namespace, name string) {
	if tn != nil {
		if q, ok := tn.qual[upstream]; ok {
			return q[0], q[1]
		}
	}
	return "", upstream
}

func flatName(namespace, name string) string {
	var sb strings.Builder
	sb.Grow(len(namespace) + 2 + len(name))
	writeToolChars(&sb, namespace)
	if !strings.HasSuffix(namespace, "__") {
		sb.WriteString("__")
	}
	writeToolChars(&sb, name)
	return sb.String()
}

func hashedName(namespace, name string) string {
	sum := sha256.Sum256([]byte(namespace + "\x00" + name))
	suffix := "_" + hex.EncodeToString(sum[:4])
	var sb strings.Builder
	writeToolChars(&sb, name)
	base := sb.String()
	if len(base) > maxToolName-len(suffix) {
		base = base[:maxToolName-len(suffix)]
	}
	return base + suffix
}

func writeToolChars(sb *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '_' || c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
			sb.WriteByte(c)
		} else {
			sb.WriteByte('_')
		}
	}
}

// DropHostedTools removes the hosted tools (web_search, file_search, …) an
// upstream reached through chat cannot run, and a tool_choice that forces
// one, for a channel set to drop them (config hosted_tools). It returns
// what it removed, as "tools[i] (type)", for the client's warning. With
// webSearch (the upstream searches itself) web search tools are kept.
func (r *ResponsesRequest) DropHostedTools(webSearch bool) []string {
	var dropped []string
	kept := r.Tools[:0:0]
	for i, t := range r.Tools {
		if t.Type == "function" || t.Type == "namespace" || webSearch && IsWebSearch(t.Type) {
			kept = append(kept, t)
			continue
		}
		dropped = append(dropped, fmt.Sprintf("tools[%d] (%s)", i, t.Type))
	}
	if dropped == nil {
		return nil
	}
	r.Tools = kept
	if tc := r.ToolChoice; tc != nil && tc.Mode == "" && tc.Type != "function" && !(webSearch && IsWebSearch(tc.Type)) {
		dropped = append(dropped, "tool_choice ("+tc.Type+")")
		r.ToolChoice = nil
	}
	r.names, r.namesDone = nil, false
	return dropped
}
