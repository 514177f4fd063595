package demo

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/valyala/bytebufferpool"
)

// MaxRows bounds the rows parameter of /export (about 10 GB of JSON).
const MaxRows = 100_000_000

// exportBuffer is how much of the encoded array is written at a time:
// large enough that writes are not tiny, small enough that the first bytes
// leave quickly and memory stays flat whatever rows is.
const exportBuffer = 32 << 10

// Record is one row of /export. Every field is derived from ID alone, so a
// client can regenerate any row with MakeRecord and compare.
type Record struct {
	ID      int64     `json:"id"`
	Name    string    `json:"name"`
	Email   string    `json:"email"`
	Amount  float64   `json:"amount"`
	Created time.Time `json:"created"`
}

var (
	firstNames = []string{"Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret", "Ken", "Radia", "Dennis", "Sophie"}
	lastNames  = []string{"Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton", "Thompson", "Perlman", "Ritchie", "Wilson"}
	// exportEpoch is the creation time of record 0; later records follow
	// every 37 s so that timestamps are distinct and ordered.
	exportEpoch = time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
)

// MakeRecord returns the record /export serves with the given id.
func MakeRecord(id int64) Record {
	h := splitmix64(uint64(id))
	first := firstNames[h%uint64(len(firstNames))]
	last := lastNames[(h>>16)%uint64(len(lastNames))]
	return Record{
		ID:      id,
		Name:    first + " " + last,
		Email:   strings.ToLower(first) + "." + strings.ToLower(last) + strconv.FormatInt(id, 10) + "@example.com",
		Amount:  float64((h>>32)%10_000_000) / 100,
		Created: exportEpoch.Add(time.Duration(id) * 37 * time.Second),
	}
}

func serveExport(w http.ResponseWriter, r *http.Request) {
	s := r.URL.Query().Get("rows")
	rows, err := strconv.ParseInt(s, 10, 64)
	if err != nil || rows < 0 || rows > MaxRows {
		badRequest(w, "rows", s, "not an integer between 0 and 100000000; use e.g. rows=1000")
		return
	}
	pace, ok := durationParam(w, r.URL.Query(), "pace", MaxWait)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodHead {
		return
	}
	if pace > 0 {
		writePaced(r, w, rows, pace)
		return
	}
	writeExport(r, w, rows)
}

// writePaced streams the array as a ticker would: a row, a flush, then a
// wait of pace, so that a client sees each row when it is flushed (through
// any compression, which must flush with it).
func writePaced(r *http.Request, w http.ResponseWriter, rows int64, pace time.Duration) {
	rc := http.NewResponseController(w)
	enc := json.NewEncoder(w)
	if _, err := io.WriteString(w, "[\n"); err != nil {
		return
	}
	for id := range rows {
		if id > 0 {
			if _, err := io.WriteString(w, ","); err != nil {
				return
			}
		}
		if enc.Encode(MakeRecord(id)) != nil || rc.Flush() != nil || sleep(r.Context(), pace) != nil {
			return
		}
	}
	io.WriteString(w, "]\n")
}

// writeExport streams the array row by row. Rows are encoded into a pooled
// buffer that goes to w whenever it holds exportBuffer bytes, so the
// response flows while it is produced, the whole array is never in memory,
// and a request costs no buffer of its own.
func writeExport(r *http.Request, w io.Writer, rows int64) {
	bb := exportBufs.Get()
	defer exportBufs.Put(bb)
	enc := json.NewEncoder(bb)
	ctx := r.Context()
	bb.WriteString("[\n")
	for id := range rows {
		// Checking every row would cost more than it saves; 1024 rows
		// are about 100 KB, a few writes at most.
		if id%1024 == 0 && ctx.Err() != nil {
			return
		}
		if id > 0 {
			bb.WriteByte(',')
		}
		enc.Encode(MakeRecord(id)) // into memory: it cannot fail
		if bb.Len() >= exportBuffer {
			if _, err := w.Write(bb.B); err != nil {
				return // the client left; nothing to tell it
			}
			bb.Reset()
		}
	}
	bb.WriteString("]\n")
	w.Write(bb.B)
}

// exportBufs holds the buffers of writeExport. bytebufferpool rather than a
// sync.Pool of fixed chunks: a buffer ends a little past exportBuffer, by up
// to a row, and the pool calibrates the size it keeps from the sizes used.
var exportBufs bytebufferpool.Pool
