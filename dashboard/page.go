package dashboard

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
)

// web holds the page and its own script and styles: no build step, no
// CDN, so that it works on an isolated network.
//
//go:embed web
var web embed.FS

// index serves the page at /.
func (s *Server) index(w http.ResponseWriter, _ *http.Request) {
	b, err := fs.ReadFile(web, "web/index.html")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "page missing from the binary")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self'; script-src 'self'")
	w.Write(b) //nolint:errcheck // the client went away
}

// static serves /static/{file}: the page's script and styles.
func (s *Server) static(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	b, err := fs.ReadFile(web, path.Join("web", path.Clean("/" + name)[1:]))
	if err != nil || name == "index.html" {
		writeError(w, http.StatusNotFound, "no static file "+name)
		return
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(b) //nolint:errcheck // the client went away
}

//go:embed openapi.json
var openapiJSON []byte

// openapi serves GET /api/openapi.json: the REST API described.
func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Write(openapiJSON) //nolint:errcheck // the client went away
}
