package mock

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
)

// Gemini's REST surface is proto-JSON: lowerCamelCase is canonical but
// snake_case is accepted too, so the fields clients really send in either
// spelling are read both ways.
type geminiRequest struct {
	Contents          []geminiContent `json:"contents"`
	SystemInstruction *geminiContent  `json:"systemInstruction"`
	SystemSnake       *geminiContent  `json:"system_instruction"`
	Tools             []geminiTool    `json:"tools"`
	ToolConfig        *geminiToolCfg  `json:"toolConfig"`
	ToolConfigSnake   *geminiToolCfg  `json:"tool_config"`
	GenerationConfig  *geminiGenCfg   `json:"generationConfig"`
	GenerationSnake   *geminiGenCfg   `json:"generation_config"`
}

// geminiGenCfg is the part of generationConfig the mock acts on: image
// output (gemini_images.go).
type geminiGenCfg struct {
	ResponseModalities []string `json:"responseModalities"`
	ImageConfig        *struct {
		AspectRatio string `json:"aspectRatio"`
	} `json:"imageConfig"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type geminiPart struct {
	Text             *string         `json:"text,omitempty"`
	InlineData       json.RawMessage `json:"inlineData,omitempty"`
	InlineSnake      json.RawMessage `json:"inline_data,omitempty"`
	FileData         json.RawMessage `json:"fileData,omitempty"`
	FileSnake        json.RawMessage `json:"file_data,omitempty"`
	FunctionCall     *geminiFnCall   `json:"functionCall,omitempty"`
	FunctionCallSn   *geminiFnCall   `json:"function_call,omitempty"`
	FunctionResponse *geminiFnResp   `json:"functionResponse,omitempty"`
	FunctionRespSn   *geminiFnResp   `json:"function_response,omitempty"`
}

type geminiFnCall struct {
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

type geminiFnResp struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type geminiTool struct {
	FunctionDeclarations []geminiFnDecl  `json:"functionDeclarations"`
	FunctionDeclSnake    []geminiFnDecl  `json:"function_declarations"`
	GoogleSearch         json.RawMessage `json:"googleSearch"`
	GoogleSearchSnake    json.RawMessage `json:"google_search"`
}

type geminiFnDecl struct {
	Name                 string          `json:"name"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

type geminiToolCfg struct {
	FunctionCallingConfig *struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames"`
	} `json:"functionCallingConfig"`
}

func (req *geminiRequest) convo() *convo {
	cv := &convo{}
	read := func(c *geminiContent) (string, *string) {
		var b strings.Builder
		var fnResp *string
		for _, p := range c.Parts {
			if p.Text != nil {
				b.WriteString(*p.Text)
			}
			if p.InlineData != nil || p.InlineSnake != nil || p.FileData != nil || p.FileSnake != nil {
				cv.images++
			}
			if fc := firstNonNil(p.FunctionCall, p.FunctionCallSn); fc != nil {
				b.Write(fc.Args)
			}
			if fr := firstNonNil(p.FunctionResponse, p.FunctionRespSn); fr != nil {
				s := string(fr.Response)
				b.WriteString(s)
				fnResp = &s
			}
		}
		return b.String(), fnResp
	}
	if sys := firstNonNil(req.SystemInstruction, req.SystemSnake); sys != nil {
		t, _ := read(sys)
		cv.text(t)
	}
	for i := range req.Contents {
		t, fr := read(&req.Contents[i])
		cv.text(t)
		if fr != nil {
			if i == len(req.Contents)-1 {
				cv.afterTool, cv.toolResult = true, *fr
			}
			continue
		}
		if req.Contents[i].Role != "model" {
			cv.lastUser = t
		}
	}
	for _, t := range req.Tools {
		for _, d := range append(t.FunctionDeclarations, t.FunctionDeclSnake...) {
			schema := d.Parameters
			if schema == nil {
				schema = d.ParametersJSONSchema
			}
			cv.tools = append(cv.tools, toolDecl{name: d.Name, schema: schema})
		}
	}
	if tc := firstNonNil(req.ToolConfig, req.ToolConfigSnake); tc != nil && tc.FunctionCallingConfig != nil {
		switch fc := tc.FunctionCallingConfig; strings.ToUpper(fc.Mode) {
		case "NONE":
			cv.choice = "none"
		case "ANY":
			cv.choice = "required"
			if len(fc.AllowedFunctionNames) > 0 {
				cv.choice = fc.AllowedFunctionNames[0]
			}
		}
	}
	return cv
}

func firstNonNil[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

type geminiUsage struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
}

func (u usage) gemini() geminiUsage {
	return geminiUsage{PromptTokenCount: u.prompt, CandidatesTokenCount: u.completion,
		TotalTokenCount: u.prompt + u.completion, CachedContentTokenCount: u.cached}
}

// geminiUsageTmpl and geminiChunk are the stream chunk with number holes.
type geminiUsageTmpl struct {
	PromptTokenCount        int    `json:"promptTokenCount"`
	CandidatesTokenCount    string `json:"candidatesTokenCount"`
	TotalTokenCount         string `json:"totalTokenCount"`
	CachedContentTokenCount int    `json:"cachedContentTokenCount,omitempty"`
}

type geminiChunk struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata geminiUsageTmpl   `json:"usageMetadata"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

type geminiCandidate struct {
	Content      geminiContent `json:"content"`
	FinishReason string        `json:"finishReason,omitempty"`
	Index        int           `json:"index"`
	Grounding    any           `json:"groundingMetadata,omitempty"`
}

// geminiGrounding is the Google Search grounding of a request declaring
// the googleSearch tool: one query (the last user text), one page
// (MockSearchURL) supporting the whole answer of textBytes bytes.
func geminiGrounding(req *geminiRequest, cv *convo, textBytes int) any {
	search := false
	for _, t := range req.Tools {
		search = search || t.GoogleSearch != nil || t.GoogleSearchSnake != nil
	}
	if !search || cv.afterTool {
		return nil
	}
	return map[string]any{
		"webSearchQueries": []string{firstRunes(strings.Join(strings.Fields(stripDirectives(cv.lastUser)), " "), 60)},
		"groundingChunks":  []any{map[string]any{"web": map[string]string{"uri": MockSearchURL, "title": MockSearchTitle}}},
		"groundingSupports": []any{map[string]any{"segment": map[string]int{"startIndex": 0, "endIndex": textBytes},
			"groundingChunkIndices": []int{0}}},
	}
}

type geminiResponse struct {
	Candidates    []geminiCandidate `json:"candidates"`
	UsageMetadata geminiUsage       `json:"usageMetadata"`
	ModelVersion  string            `json:"modelVersion"`
	ResponseID    string            `json:"responseId"`
}

func (s *Server) geminiAction(c *call) {
	model, action, ok := strings.Cut(c.r.PathValue("target"), ":")
	if !ok {
		c.fail(http.StatusNotFound, "unknown method: expected models/{model}:{action}")
		return
	}
	switch action {
	case "generateContent":
		s.geminiGenerate(c, model, false)
	case "streamGenerateContent":
		s.geminiGenerate(c, model, true)
	case "countTokens":
		s.geminiCountTokens(c)
	case "embedContent":
		s.geminiEmbed(c, model, false)
	case "batchEmbedContents":
		s.geminiEmbed(c, model, true)
	case "predict":
		s.imagenPredict(c, model)
	default:
		c.fail(http.StatusNotFound, "unknown method "+action)
	}
}

func (s *Server) geminiGenerate(c *call, model string, stream bool) {
	var req geminiRequest
	if !c.decode(&req) {
		return
	}
	if len(req.Contents) == 0 {
		c.fail(http.StatusBadRequest, "* GenerateContentRequest.contents: contents is not specified")
		return
	}
	if gc := firstNonNil(req.GenerationConfig, req.GenerationSnake); gc != nil && slices.Contains(gc.ResponseModalities, "IMAGE") {
		s.geminiImage(c, model, &req, gc, stream)
		return
	}
	cv := req.convo()
	a := c.plan(cv, model)
	base := geminiResponse{ModelVersion: a.model, ResponseID: s.newID("")}
	if a.tool {
		args := a.argsMap()
		base.Candidates = []geminiCandidate{{Content: geminiContent{Role: "model",
			Parts: []geminiPart{{FunctionCall: &geminiFnCall{Name: a.toolName, Args: args}}}}, FinishReason: "STOP"}}
	}
	if !stream {
		if !a.tool {
			t := a.text()
			base.Candidates = []geminiCandidate{{Content: geminiContent{Role: "model", Parts: []geminiPart{{Text: &t}}}, FinishReason: "STOP",
				Grounding: geminiGrounding(&req, cv, len(t))}}
		}
		base.UsageMetadata = a.usage.gemini()
		c.reply(base)
		return
	}
	mode := modeJSONArray
	if c.r.URL.Query().Get("alt") == "sse" {
		mode = modeSSE
	}
	st := c.startStream(mode)
	st.crlf = true // Google's SSE separates events with CRLF pairs
	if a.tool {
		base.UsageMetadata = a.usage.gemini()
		st.sendJSON("", base)
		st.end()
		return
	}
	// Every chunk carries usage with a running candidates count, as Gemini's
	// do; the last one is the call's total.
	hole := holeS
	running := geminiUsageTmpl{PromptTokenCount: a.usage.prompt, CandidatesTokenCount: holeN, TotalTokenCount: holeM}
	if a.usage.cached > 0 {
		running.CachedContentTokenCount = a.usage.cached
	}
	mid := geminiChunk{ModelVersion: base.ModelVersion, ResponseID: base.ResponseID, UsageMetadata: running,
		Candidates: []geminiCandidate{{Content: geminiContent{Role: "model", Parts: []geminiPart{{Text: &hole}}}}}}
	last := mid
	last.Candidates = []geminiCandidate{{Content: geminiContent{Role: "model", Parts: []geminiPart{{Text: &hole}}}, FinishReason: "STOP",
		Grounding: geminiGrounding(&req, cv, len(a.text()))}}
	tMid, tLast := newTmpl(mid), newTmpl(last)
	var b []byte
	for i := 0; i < a.n && st.ok(); i++ {
		t := &tMid
		if i == a.n-1 {
			t = &tLast
		}
		words := a.wordsThrough(i)
		b = t.fill2(b[:0], words, a.usage.prompt+words, a.piece(i))
		st.send("", b)
	}
	st.end()
}

func (s *Server) geminiCountTokens(c *call) {
	var req struct {
		geminiRequest
		GenerateContentRequest *geminiRequest `json:"generateContentRequest"`
	}
	if !c.decode(&req) {
		return
	}
	g := &req.geminiRequest
	if req.GenerateContentRequest != nil {
		g = req.GenerateContentRequest
	}
	c.reply(map[string]int{"totalTokens": g.convo().promptTokens()})
}

type geminiEmbedRequest struct {
	Model                string        `json:"model"`
	Content              geminiContent `json:"content"`
	OutputDimensionality int           `json:"outputDimensionality"`
}

func (s *Server) geminiEmbed(c *call, model string, batch bool) {
	dims := func(r geminiEmbedRequest) int {
		if r.OutputDimensionality > 0 {
			return min(r.OutputDimensionality, 8192)
		}
		if strings.HasPrefix(model, "gemini-embedding") {
			return 3072
		}
		return 768
	}
	text := func(r geminiEmbedRequest) []byte {
		var b []byte
		for _, p := range r.Content.Parts {
			if p.Text != nil {
				b = append(b, *p.Text...)
			}
		}
		return b
	}
	if !batch {
		var req geminiEmbedRequest
		if !c.decode(&req) {
			return
		}
		c.reply(map[string]any{"embedding": map[string]any{"values": embedVector(text(req), dims(req))}})
		return
	}
	var req struct {
		Requests []geminiEmbedRequest `json:"requests"`
	}
	if !c.decode(&req) {
		return
	}
	out := make([]map[string]any, len(req.Requests))
	for i, r := range req.Requests {
		out[i] = map[string]any{"values": embedVector(text(r), dims(r))}
	}
	c.reply(map[string]any{"embeddings": out})
}

type geminiModel struct {
	Name                       string   `json:"name"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	OutputTokenLimit           int      `json:"outputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
}

var geminiModels = []geminiModel{
	{Name: "models/gemini-2.5-flash", Version: "001", DisplayName: "Gemini 2.5 Flash", Description: "Mock Gemini model",
		InputTokenLimit: 1048576, OutputTokenLimit: 65536, SupportedGenerationMethods: []string{"generateContent", "countTokens"}},
	{Name: "models/gemini-2.5-pro", Version: "001", DisplayName: "Gemini 2.5 Pro", Description: "Mock Gemini model",
		InputTokenLimit: 1048576, OutputTokenLimit: 65536, SupportedGenerationMethods: []string{"generateContent", "countTokens"}},
	{Name: "models/gemini-2.0-flash", Version: "2.0", DisplayName: "Gemini 2.0 Flash", Description: "Mock Gemini model",
		InputTokenLimit: 1048576, OutputTokenLimit: 8192, SupportedGenerationMethods: []string{"generateContent", "countTokens"}},
	{Name: "models/text-embedding-004", Version: "004", DisplayName: "Text Embedding 004", Description: "Mock embedding model",
		InputTokenLimit: 2048, OutputTokenLimit: 1, SupportedGenerationMethods: []string{"embedContent"}},
}

func (s *Server) geminiListModels(c *call) { c.reply(map[string]any{"models": geminiModels}) }

func (s *Server) geminiGetModel(c *call) {
	name := "models/" + c.r.PathValue("model")
	for _, m := range geminiModels {
		if m.Name == name {
			c.reply(m)
			return
		}
	}
	c.fail(http.StatusNotFound, "models/"+c.r.PathValue("model")+" is not found for API version v1beta")
}
