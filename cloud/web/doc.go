// Package web is the gateway's live page: a map of the grid cells with the
// vehicles per cell, the active alerts and their history, updating live
// over the alert stream of cloud/api. The gateway mounts Handler at "/".
//
//	GET /                 the page (HTML)
//	GET /page/app.js      its script; /page/style.css, /page/icon.svg
//	GET /page/cells       cell geometry: ?tokens=a,b → corners and centre per token
//
// Everything the page needs is embedded in the binary (go:embed): no map
// tiles, fonts or CDNs, so it works offline, and its Content-Security-Policy
// lets it reach its own origin only. It is plain HTML, CSS and JavaScript
// with no build step. The map is an SVG in an equirectangular projection
// fitted to the cells in view; cells are drawn from their four corners,
// which alerts carry and /page/cells gives for the cells of vehicle counts.
//
// The page logs in with a user of the gateway's credentials file: a token
// NAME:PASSWORD read from the URL fragment (#token=NAME:PASSWORD, which a
// browser never sends to a server; the page removes it from the address
// bar) or typed into a small form, kept in sessionStorage (one tab, gone
// when it closes). It sends the token as "Authorization: Bearer" to the
// API: the alert stream is read with fetch() and a stream reader rather
// than EventSource, which cannot set headers, and it reconnects with
// Last-Event-ID. An operator sees vehicle counts per cell (polled from
// /v1/vehicles?bbox=); a traffic login sees the alerts only.
//
// The handler itself holds no secret and asks for no login: the page's
// files are the same for everyone, and a cell's geometry follows from its
// token, which says nothing a token does not.
package web
