package codec

import (
	"net/http"

	"go.temporal.io/sdk/converter"
)

// Handler is the codec server the Temporal Web UI calls (POST /encode,
// POST /decode) to show encrypted payloads to an operator who holds the
// keys. uiOrigin is the Web UI's origin, allowed by CORS.
func (c *Codec) Handler(uiOrigin string) http.Handler {
	h := converter.NewPayloadCodecHTTPHandler(c)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if uiOrigin != "" && r.Header.Get("Origin") == uiOrigin {
			w.Header().Set("Access-Control-Allow-Origin", uiOrigin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type,X-Namespace,Authorization")
			w.Header().Set("Access-Control-Allow-Methods", "POST,OPTIONS")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		h.ServeHTTP(w, r)
	})
}
