// Package dashboard is skiff's web dashboard, served by the API server at
// /dashboard/: nodes with their conditions and usage, namespaces,
// workloads and their rollouts, pods with their events, logs and a shell,
// Services and Ingresses, and any object's YAML, edited and applied with
// server-side apply.
//
// The dashboard holds no rights of its own. Every page and every data
// request acts as the person using it:
//
//	browser --cookie--> /dashboard/api/<path> --Authorization: Bearer--> API server /<path>
//
// The handler runs before the API server's authentication (it is mounted
// as a self-authenticated prefix) because a browser cannot send a bearer
// token by itself: it reads the token from an HttpOnly, Secure,
// SameSite=Strict cookie set by the login form, or takes an Authorization
// header or the client certificate as the API does, and hands each data
// request to the API server's own handler, which authenticates, authorizes
// (RBAC) and audits it as that user. A request with no credentials at all
// is answered 401 with the login form.
//
// Requests that change something must carry the X-Skiff-Dashboard header
// (a page on another origin cannot set it without a CORS preflight the
// dashboard never answers), and WebSocket upgrades (exec) and form posts
// (login, logout) must come from the dashboard's own origin.
//
// Pages are HTML rendered by the server (html/template) with a small
// script, embedded in the binary, that lists objects and keeps them
// current through watches. Usage figures come from the metrics API, which
// offers no watch, so they alone are read again on a timer.
package dashboard
