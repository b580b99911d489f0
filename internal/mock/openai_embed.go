package mock

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
)

type embeddingRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	EncodingFormat string          `json:"encoding_format"`
	Dimensions     int             `json:"dimensions"`
}

// embeddingInputs reads string | []string | []int | [][]int; each input is
// returned as the bytes its vector is seeded from, with its token count.
func embeddingInputs(raw json.RawMessage) (seeds [][]byte, tokens []int, ok bool) {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return [][]byte{[]byte(s)}, []int{max(1, len(s)/4)}, true
	}
	var ss []string
	if json.Unmarshal(raw, &ss) == nil && len(ss) > 0 {
		for _, x := range ss {
			seeds = append(seeds, []byte(x))
			tokens = append(tokens, max(1, len(x)/4))
		}
		return seeds, tokens, true
	}
	var toks []int
	if json.Unmarshal(raw, &toks) == nil && len(toks) > 0 {
		b, _ := json.Marshal(toks)
		return [][]byte{b}, []int{len(toks)}, true
	}
	var tt [][]int
	if json.Unmarshal(raw, &tt) == nil && len(tt) > 0 {
		for _, t := range tt {
			b, _ := json.Marshal(t)
			seeds = append(seeds, b)
			tokens = append(tokens, len(t))
		}
		return seeds, tokens, true
	}
	return nil, nil, false
}

// embedVector is a unit vector derived only from seed: the same input always
// embeds to the same point, different inputs almost surely differ.
func embedVector(seed []byte, dims int) []float32 {
	h := fnv.New64a()
	h.Write(seed)
	x := h.Sum64()
	v := make([]float32, dims)
	var norm float64
	for i := range v {
		x += 0x9e3779b97f4a7c15 // splitmix64
		z := x
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		z ^= z >> 31
		f := float64(z>>11)/float64(1<<53)*2 - 1
		v[i] = float32(f)
		norm += f * f
	}
	if norm > 0 {
		n := float32(math.Sqrt(norm))
		for i := range v {
			v[i] /= n
		}
	}
	return v
}

func float32Base64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func defaultDims(model string) int {
	if model == "text-embedding-3-large" {
		return 3072
	}
	return 1536
}

type embeddingItem struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float32, or a base64 string
}

func (s *Server) embeddings(c *call) {
	var req embeddingRequest
	if !c.decode(&req) {
		return
	}
	seeds, tokens, ok := embeddingInputs(req.Input)
	if !ok {
		c.fail(http.StatusBadRequest, "input: expected a string, an array of strings, or token arrays")
		return
	}
	model := c.modelOr(req.Model, "text-embedding-3-small")
	dims := defaultDims(model)
	if req.Dimensions != 0 {
		if req.Dimensions < 1 || req.Dimensions > 8192 {
			c.fail(http.StatusBadRequest, "dimensions: must be between 1 and 8192, got "+strconv.Itoa(req.Dimensions))
			return
		}
		dims = req.Dimensions
	}
	data := make([]embeddingItem, len(seeds))
	total := 0
	for i, seed := range seeds {
		v := embedVector(seed, dims)
		data[i] = embeddingItem{Object: "embedding", Index: i, Embedding: v}
		if req.EncodingFormat == "base64" {
			data[i].Embedding = float32Base64(v)
		}
		total += tokens[i]
	}
	c.reply(map[string]any{
		"object": "list",
		"data":   data,
		"model":  model,
		"usage":  map[string]int{"prompt_tokens": total, "total_tokens": total},
	})
}

type modelInfo struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// openAIModels is what GET /v1/models lists; generation endpoints accept any
// model name, so gateways can map names freely.
var openAIModels = []modelInfo{
	{ID: "gpt-4o-mini", Created: 1721172741, OwnedBy: "system"},
	{ID: "gpt-4o", Created: 1715367049, OwnedBy: "system"},
	{ID: "gpt-4.1", Created: 1744316542, OwnedBy: "system"},
	{ID: "gpt-4.1-mini", Created: 1744318173, OwnedBy: "system"},
	{ID: "gpt-3.5-turbo-instruct", Created: 1692901427, OwnedBy: "system"},
	{ID: "gpt-image-1", Created: 1745517030, OwnedBy: "system"},
	{ID: "dall-e-3", Created: 1698785189, OwnedBy: "system"},
	{ID: "text-embedding-3-small", Created: 1705948997, OwnedBy: "system"},
	{ID: "text-embedding-3-large", Created: 1705953180, OwnedBy: "system"},
}

func init() {
	for i := range openAIModels {
		openAIModels[i].Object = "model"
	}
}

func (s *Server) listModels(c *call) {
	c.reply(map[string]any{"object": "list", "data": openAIModels})
}

func (s *Server) getModel(c *call) {
	id := c.r.PathValue("id")
	for _, m := range openAIModels {
		if m.ID == id {
			c.reply(m)
			return
		}
	}
	c.fail(http.StatusNotFound, "The model '"+id+"' does not exist")
}
