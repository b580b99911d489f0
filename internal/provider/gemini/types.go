// Package gemini holds the Gemini generateContent wire types and their
// translation to and from the OpenAI chat pivot.
//
// Chat → generateContent (FromChat) decisions:
//   - system/developer messages before the first user or assistant turn
//     become systemInstruction; later ones (Claude Code and Codex send
//     instructions mid-conversation) become a user-turn text part at their
//     place, wrapped in <system_message> tags: Gemini turns are only user
//     or model, and systemInstruction would lose the position and break
//     the cacheable prefix of every later request. Assistant turns
//     have role "model"; tool messages become functionResponse parts of a
//     user turn, with the function name recovered from the assistant tool
//     call whose id they answer (Gemini matches results by name); consecutive
//     turns of one role are merged so parallel results travel together.
//   - A tool result that is a JSON object is sent as the response object
//     itself; anything else is wrapped as {"result": <text>}, because
//     functionResponse.response must be an object.
//   - Function schemas go in parametersJsonSchema and json_schema response
//     formats in responseJsonSchema, which take JSON Schema as is; the older
//     OpenAPI-subset fields would need lossy schema rewriting.
//   - Chat history carries no Gemini thought signatures, which Gemini 3
//     requires on the first functionCall of each model turn; such parts get
//     Google's documented "skip_thought_signature_validator" sentinel.
//   - Images must be base64 data URLs (inlineData). http(s) image URLs are
//     refused: fileData only accepts Gemini Files API or Cloud Storage URIs,
//     and fetching arbitrary URLs from the gateway is a server-side request
//     forgery risk that belongs to a deliberate feature, not a translator.
//   - reasoning_effort becomes thinkingConfig (none 0, minimal/low 1024,
//     medium 8192, high 24576) with includeThoughts, so thoughts come back
//     as reasoning_content. n maps to candidateCount.
//   - Refused with *provider.UnsupportedError: logprobs, logit_bias, audio
//     output, prediction, web_search_options, deprecated functions, custom
//     and allowed_tools tool choices, file ids, http image URLs.
//   - Ignored hints: store, metadata, service_tier, prompt_cache_key,
//     safety_identifier, verbosity, user, message names, tool "strict",
//     parallel_tool_calls (Gemini has no switch for it) and reasoning_content
//     of earlier turns.
package gemini

import "encoding/json"

// GenerateRequest is a generateContent / streamGenerateContent request body.
type GenerateRequest struct {
	Contents          []Content         `json:"contents"`
	SystemInstruction *Content          `json:"systemInstruction,omitempty"`
	Tools             []Tool            `json:"tools,omitempty"`
	ToolConfig        *ToolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *GenerationConfig `json:"generationConfig,omitempty"`
	SafetySettings    []SafetySetting   `json:"safetySettings,omitempty"`
	CachedContent     string            `json:"cachedContent,omitempty"`
}

// Content is one turn: role "user" or "model" (empty for systemInstruction).
type Content struct {
	Role  string `json:"role,omitempty"`
	Parts []Part `json:"parts"`
}

// Part is one piece of content; exactly one data member is set.
type Part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *Blob             `json:"inlineData,omitempty"`
	FileData         *FileData         `json:"fileData,omitempty"`
	FunctionCall     *FunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *FunctionResponse `json:"functionResponse,omitempty"`
}

// Blob is inline base64 data.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FileData references an uploaded file.
type FileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

// FunctionCall is a call the model makes.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

// FunctionResponse is the result of a call, sent back by the client.
type FunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

// Tool groups function declarations.
type Tool struct {
	FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
	GoogleSearch         *struct{}             `json:"googleSearch,omitempty"` // Google Search grounding
}

// FunctionDeclaration declares a function the model may call.
type FunctionDeclaration struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

// ToolConfig configures function calling.
type ToolConfig struct {
	FunctionCallingConfig *FunctionCallingConfig `json:"functionCallingConfig,omitempty"`
}

// FunctionCallingConfig is mode AUTO | ANY | NONE with an optional allow list.
type FunctionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

// GenerationConfig holds sampling and output options.
type GenerationConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	MaxOutputTokens    *int            `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	CandidateCount     *int            `json:"candidateCount,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *ThinkingConfig `json:"thinkingConfig,omitempty"`
	// ResponseModalities and ImageConfig ask image-output models for
	// pictures (see images.go).
	ResponseModalities []string     `json:"responseModalities,omitempty"`
	ImageConfig        *ImageConfig `json:"imageConfig,omitempty"`
}

// ImageConfig shapes the images of an image-output model.
type ImageConfig struct {
	AspectRatio string `json:"aspectRatio,omitempty"`
}

// ThinkingConfig controls thinking models.
type ThinkingConfig struct {
	ThinkingBudget  *int `json:"thinkingBudget,omitempty"`
	IncludeThoughts bool `json:"includeThoughts,omitempty"`
}

// SafetySetting is one harm category threshold.
type SafetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

// GenerateResponse is a generateContent response, and each event of an
// alt=sse stream.
type GenerateResponse struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion,omitempty"`
	ResponseID     string          `json:"responseId,omitempty"`
}

// Candidate is one generated answer.
type Candidate struct {
	Content      Content `json:"content"`
	FinishReason string  `json:"finishReason,omitempty"`
	Index        int     `json:"index"`

	GroundingMetadata *GroundingMetadata `json:"groundingMetadata,omitempty"`
}

// GroundingMetadata is what Google Search grounding found: the queries
// run, the pages (chunks) and which text spans they support.
type GroundingMetadata struct {
	WebSearchQueries  []string           `json:"webSearchQueries,omitempty"`
	GroundingChunks   []GroundingChunk   `json:"groundingChunks,omitempty"`
	GroundingSupports []GroundingSupport `json:"groundingSupports,omitempty"`
}

// GroundingChunk is one page a grounded answer drew on.
type GroundingChunk struct {
	Web *struct {
		URI   string `json:"uri"`
		Title string `json:"title"`
	} `json:"web,omitempty"`
}

// GroundingSupport ties a span of the answer text (byte offsets) to chunks.
type GroundingSupport struct {
	Segment struct {
		StartIndex int `json:"startIndex"`
		EndIndex   int `json:"endIndex"`
	} `json:"segment"`
	GroundingChunkIndices []int `json:"groundingChunkIndices"`
}

// PromptFeedback reports a prompt blocked before generation.
type PromptFeedback struct {
	BlockReason string `json:"blockReason,omitempty"`
}

// UsageMetadata is token usage. PromptTokenCount includes cached tokens;
// CandidatesTokenCount excludes thoughts, which ThoughtsTokenCount counts.
type UsageMetadata struct {
	PromptTokenCount        int `json:"promptTokenCount"`
	CandidatesTokenCount    int `json:"candidatesTokenCount"`
	TotalTokenCount         int `json:"totalTokenCount"`
	CachedContentTokenCount int `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount int `json:"toolUsePromptTokenCount,omitempty"`
}
