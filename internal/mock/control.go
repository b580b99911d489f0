package mock

import (
	"encoding/json"
	"io"
	"net/http"
)

// The control API under /_mock/ lets tests outside the process (the CLI
// mock, load harnesses) do what SetFault, Counters, Requests and Reset do.
// It needs no credential and is never counted.

func (s *Server) handleCounters(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.Counters())
}

// handleRequests lists recorded requests; without ?credential= it lists all.
func (s *Server) handleRequests(w http.ResponseWriter, r *http.Request) {
	cred, has := r.URL.Query()["credential"]
	if !has || len(cred) == 0 {
		writeJSON(w, http.StatusOK, s.rec.list("", true))
		return
	}
	writeJSON(w, http.StatusOK, s.rec.list(cred[0], false))
}

func (s *Server) handleReset(w http.ResponseWriter, r *http.Request) {
	s.Reset()
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) handleGetFaults(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.faults.snapshot())
}

// handlePutFault takes {"credential":"k","fault":{…}}.
func (s *Server) handlePutFault(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Credential *string `json:"credential"`
		Fault      *Fault  `json:"fault"`
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(b, &body)
	}
	switch {
	case err != nil:
		writeJSON(w, http.StatusBadRequest, openAIError(http.StatusBadRequest, "invalid fault rule: "+err.Error(), "invalid_request_error"))
	case body.Credential == nil || body.Fault == nil:
		writeJSON(w, http.StatusBadRequest, openAIError(http.StatusBadRequest, `want {"credential":"…","fault":{…}}`, "invalid_request_error"))
	default:
		s.SetFault(*body.Credential, *body.Fault)
		s.log.Info("mock fault rule set", "status", body.Fault.Status)
		writeJSON(w, http.StatusOK, s.faults.snapshot())
	}
}

func (s *Server) handleDeleteFaults(w http.ResponseWriter, r *http.Request) {
	s.ClearFaults()
	w.WriteHeader(http.StatusNoContent)
}
