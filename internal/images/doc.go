// Package images builds the small container images skiff ships and tests
// with, as docker-archive tarballs that containerd imports: the pause image
// (one static binary) and test images made of busybox-static and its applet
// links. Nothing is pulled from a registry.
package images
