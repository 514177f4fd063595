package demo

import (
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// fileServer serves /files/ from root through os.Root, which refuses every
// path that would leave the root: "..", absolute paths and symlinks that
// point outside. The root is opened per request so that a handler holds no
// descriptor between requests and a root created after start-up works.
type fileServer struct {
	root string
}

func (fsrv *fileServer) serve(w http.ResponseWriter, r *http.Request, name string) {
	if fsrv.root == "" {
		http.Error(w, "file serving is disabled: this demo worker was started without a files root; start it with one to serve /files/", http.StatusNotFound)
		return
	}
	if name == "" {
		http.Error(w, "no file named: use /files/PATH with PATH relative to the files root", http.StatusNotFound)
		return
	}
	if !filepath.IsLocal(filepath.FromSlash(name)) {
		badRequest(w, "path", name, "leaves the files root (absolute or \"..\"); use a path inside it")
		return
	}
	root, err := os.OpenRoot(fsrv.root)
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot open the files root %q: %v; check that the directory exists and is readable", fsrv.root, err), http.StatusInternalServerError)
		return
	}
	defer root.Close()
	f, err := root.Open(filepath.FromSlash(name))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		http.Error(w, fmt.Sprintf("file %q not found under the files root", name), http.StatusNotFound)
		return
	case err != nil:
		// Mostly a symlink that points out of the root.
		http.Error(w, fmt.Sprintf("file %q refused: %v", name, err), http.StatusForbidden)
		return
	}
	defer f.Close()
	if gz := precompressed(root, r, name); gz != nil {
		// Served in place of the file, as nginx's gzip_static does: the
		// handler's own Content-Encoding, which compression leaves alone.
		defer gz.Close()
		f = gz
		w.Header().Set("Content-Encoding", "gzip")
		if w.Header().Get("Vary") == "" {
			w.Header().Set("Vary", "Accept-Encoding")
		}
	}
	info, err := f.Stat()
	if err != nil {
		http.Error(w, fmt.Sprintf("file %q: %v", name, err), http.StatusInternalServerError)
		return
	}
	if !info.Mode().IsRegular() {
		http.Error(w, fmt.Sprintf("file %q is not a regular file (a directory?); only files are served, listings are not", name), http.StatusForbidden)
		return
	}
	// ServeContent sets Content-Length and Content-Type and answers Range
	// and conditional requests.
	http.ServeContent(w, r, path.Base(name), info.ModTime(), f)
}

// precompressed opens name+".gz" if it is a regular file and r accepts
// gzip, and returns nil otherwise. Ranges are of the file itself, so a
// request with one gets the file.
func precompressed(root *os.Root, r *http.Request, name string) *os.File {
	if r.Header.Get("Range") != "" || !acceptsGzip(r.Header.Get("Accept-Encoding")) {
		return nil
	}
	f, err := root.Open(filepath.FromSlash(name) + ".gz")
	if err != nil {
		return nil
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil
	}
	return f
}

// acceptsGzip reports whether an Accept-Encoding value lists gzip with a
// q-value above 0.
func acceptsGzip(ae string) bool {
	for part := range strings.SplitSeq(ae, ",") {
		name, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") {
			continue
		}
		q, ok := strings.CutPrefix(strings.ReplaceAll(strings.ToLower(params), " ", ""), "q=")
		if !ok {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}
