package ipc

import "github.com/sluicegw/sluice/stream"

// initRecvWindow sets up a new stream's receive window: a fixed window of
// StreamWindow, as the protocol's first implementation had, unless the
// initial credit is smaller or a budget is shared, in which case the
// window starts at the initial credit and grows by grants (see
// stream.RecvWindow.Consumed). Either way the receive queue's limit,
// StreamWindow, covers the largest window.
func (s *settings) initRecvWindow(w *stream.RecvWindow) {
	if s.recvBudget == nil && s.initialWindow == s.streamWindow {
		w.Init(s.streamWindow)
		return
	}
	w.InitShared(s.initialWindow, s.streamWindow, s.recvBudget)
}
