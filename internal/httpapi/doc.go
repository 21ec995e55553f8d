// Package httpapi is what every flagstream HTTP server shares: JSON in and out
// with body limits, the error shape and status codes (chosen here, in one
// place), bearer-token auth with scopes, health endpoints, and a server with
// timeouts that drains on shutdown.
package httpapi
