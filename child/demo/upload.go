package demo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"golang.org/x/time/rate"

	"github.com/sluicegw/sluice/ipc/settings"
)

// uploadPiece is how much /upload reads at a time: the body is hashed as it
// arrives and never held whole, so that a 1 GiB upload costs the worker
// this much and the parent no more than the stream's credit.
const uploadPiece = 64 << 10

// UploadResult is the answer of POST /upload, as JSON (with
// "Accept: application/json") or as the text "SIZE SHA256HEX\n".
type UploadResult struct {
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// serveUpload reads the request body to its end, hashing it as it comes,
// and answers its size and SHA-256. With rate=SIZE it reads at most that
// many bytes a second, as a worker writing to slow storage would: the
// parent must then slow the client down rather than buffer its body. With
// max=SIZE a body whose Content-Length is larger is refused with 413
// before any of it is read, as a storage service refuses an upload over
// its quota: a client that sent "Expect: 100-continue" then never sends it.
func serveUpload(w http.ResponseWriter, r *http.Request) {
	if s := r.URL.Query().Get("max"); s != "" {
		most, err := settings.ParseSize(s)
		if err != nil {
			badRequest(w, "max", s, "not a byte count; use e.g. 1MiB")
			return
		}
		if r.ContentLength > most {
			http.Error(w, fmt.Sprintf("the upload of %d bytes is larger than max=%s", r.ContentLength, s), http.StatusRequestEntityTooLarge)
			return
		}
	}
	var lim *rate.Limiter
	if s := r.URL.Query().Get("rate"); s != "" {
		n, err := settings.ParseSize(s)
		if err != nil || n == 0 {
			badRequest(w, "rate", s, "not a positive byte rate per second; use e.g. 64KiB")
			return
		}
		lim = rate.NewLimiter(rate.Limit(n), int(min(n, uploadPiece)))
	}
	piece := uploadPiece
	if lim != nil {
		piece = lim.Burst()
	}
	buf := chunks.Get().(*[blockSize]byte)
	defer chunks.Put(buf)
	sum := sha256.New()
	var size int64
	for {
		if lim != nil {
			if err := lim.WaitN(r.Context(), piece); err != nil {
				return // the client is gone
			}
		}
		n, err := r.Body.Read(buf[:piece])
		sum.Write(buf[:n])
		size += int64(n)
		if err == io.EOF {
			break
		}
		if err != nil {
			http.Error(w, fmt.Sprintf("reading the upload after %d bytes: %v", size, err), http.StatusBadRequest)
			return
		}
	}
	res := UploadResult{Size: size, SHA256: hex.EncodeToString(sum.Sum(nil))}
	if strings.Contains(r.Header.Get("Accept"), "application/json") {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "%d %s\n", res.Size, res.SHA256)
}
