package stream

import "time"

// epoch anchors nanotime: a monotonic clock reading kept as an int64, so a
// chunk can record when it was filled without storing a whole time.Time.
var epoch = time.Now()

func nanotime() int64 { return int64(time.Since(epoch)) }

func fromNanotime(n int64) time.Time { return epoch.Add(time.Duration(n)) }
