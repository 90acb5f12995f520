package dashboard

import (
	_ "embed" // the page ships inside the binary: no build step, no internet
	"net/http"
)

//go:embed web/index.html
var indexHTML []byte

// index serves the page at /.
func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(indexHTML) //nolint:errcheck // the client went away
}
