package demo

import "github.com/sluicegw/sluice/ipc/settings"

// MaxSize is the largest size ParseSize accepts (1 TiB): far beyond any test,
// small enough that a typo cannot ask a worker for an endless response.
const MaxSize = settings.MaxSize

// ParseSize parses a byte count such as "4096", "27MiB", "1GiB" or "10MB"
// with the syntax of every sluice size (see settings.ParseSize), so that
// /payload?size= reads like the flags and variables. The result is at most
// MaxSize. The bench tools call it, which is why it stays.
func ParseSize(s string) (int64, error) { return settings.ParseSize(s) }
