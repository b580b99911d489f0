package mock

import "net/http"

// azureDeployment serves /openai/deployments/{deployment}/{op}. The
// deployment name stands in for the model in every answer, as on Azure.
func (s *Server) azureDeployment(c *call) {
	c.model = c.r.PathValue("deployment")
	switch c.r.PathValue("op") {
	case "chat/completions":
		s.chatCompletions(c)
	case "completions":
		s.completions(c)
	case "embeddings":
		s.embeddings(c)
	case "images/generations":
		s.imageGenerations(c)
	case "images/edits":
		s.imageEdits(c)
	default:
		c.fail(http.StatusNotFound, "Resource not found")
	}
}
