// Package node holds the Node.js peer of the incident replays: the design
// the incidents came from, a workerParent that forwards each request to a
// workerChild process over a Unix socket with res.pipe. The scripts are
// embedded so that sluice-bench can run them from anywhere.
package node

import "embed"

// Scripts holds workerParent.js and workerChild.js.
//
//go:embed workerParent.js workerChild.js
var Scripts embed.FS
