package server

import "net/http"

// Handler is the node's HTTP handler (the api with the node's engines), for
// tests that call it in-process, such as the fuzz targets, instead of over
// a connection. Listen and Serve are not needed for it.
func (n *Node) Handler() http.Handler { return n.http.Handler }
