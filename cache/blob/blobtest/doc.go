// Package blobtest serves image data for the blob cache's tests (and
// package site's): a real HTTP origin that misbehaves on demand.
package blobtest
