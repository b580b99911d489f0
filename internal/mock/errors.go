package mock

import (
	"net/http"
	"strconv"
)

// fail answers with status in the error shape of the call's provider.
func (c *call) fail(status int, msg string) { c.failCode(status, msg, "") }

// failCode is fail with an error code, where the provider's shape has one
// ("" for the provider's default).
func (c *call) failCode(status int, msg, code string) {
	var body any
	switch c.prov {
	case provAnthropic:
		body = anthropicError(status, msg)
	case provGemini, provVertex:
		body = geminiError(status, msg)
	case provAzure:
		body = azureError(status, msg)
		if code != "" {
			body.(map[string]any)["error"].(map[string]any)["code"] = code
		}
	case provBedrock:
		if code == "" {
			code = bedrockErrorType(status)
		}
		c.w.Header().Set("X-Amzn-ErrorType", code+":http://internal.amazon.com/coral/com.amazon.bedrock/")
		body = map[string]string{"message": msg}
	case provOAuth:
		body = oauthErrBody{Error: oauthFaultCode(status), Description: msg}
	default:
		if code == "" && status == http.StatusUnauthorized {
			code = "invalid_api_key"
		}
		body = openAIError(status, msg, code)
	}
	if status == http.StatusTooManyRequests && c.prov == provOpenAI {
		c.w.Header().Set("x-should-retry", "true")
	}
	writeJSON(c.w, status, body)
}

type openAIErrBody struct {
	Error openAIErrDetail `json:"error"`
}

type openAIErrDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func openAIError(status int, msg, code string) openAIErrBody {
	typ := "invalid_request_error"
	switch {
	case status == http.StatusTooManyRequests:
		typ = "requests"
		if code == "" {
			code = "rate_limit_exceeded"
		}
	case status == http.StatusNotFound && code == "":
		code = "model_not_found"
	case status >= 500:
		typ = "server_error"
	}
	d := openAIErrDetail{Message: msg, Type: typ}
	if code != "" {
		d.Code = &code
	}
	return openAIErrBody{Error: d}
}

// azureError is Azure's own envelope: the code is the status as a string.
func azureError(status int, msg string) map[string]any {
	if status == http.StatusUnauthorized {
		msg = "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."
	}
	return map[string]any{"error": map[string]any{"code": strconv.Itoa(status), "message": msg}}
}

func anthropicError(status int, msg string) map[string]any {
	typ := "api_error"
	switch status {
	case http.StatusBadRequest:
		typ = "invalid_request_error"
	case http.StatusUnauthorized:
		typ = "authentication_error"
	case http.StatusForbidden:
		typ = "permission_error"
	case http.StatusNotFound:
		typ = "not_found_error"
	case http.StatusRequestEntityTooLarge:
		typ = "request_too_large"
	case http.StatusTooManyRequests:
		typ = "rate_limit_error"
	case 529:
		typ = "overloaded_error"
	default:
		if status < 500 {
			typ = "invalid_request_error"
		}
	}
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
}

func geminiError(status int, msg string) map[string]any {
	st := "UNKNOWN"
	switch status {
	case http.StatusBadRequest:
		st = "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		st = "UNAUTHENTICATED"
	case http.StatusForbidden:
		st = "PERMISSION_DENIED"
	case http.StatusNotFound:
		st = "NOT_FOUND"
	case http.StatusConflict:
		st = "ABORTED"
	case http.StatusRequestEntityTooLarge:
		st = "INVALID_ARGUMENT"
	case http.StatusTooManyRequests:
		st = "RESOURCE_EXHAUSTED"
	case 499:
		st = "CANCELLED"
	case http.StatusInternalServerError:
		st = "INTERNAL"
	case http.StatusNotImplemented:
		st = "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		st = "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		st = "DEADLINE_EXCEEDED"
	}
	return map[string]any{"error": map[string]any{"code": status, "message": msg, "status": st}}
}
