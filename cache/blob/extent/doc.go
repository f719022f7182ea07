// Package extent keeps the byte ranges of a file that are written: a
// sorted set of disjoint intervals, which the blob cache's fills add to and
// its readers, checkpoints and verifiers consult.
package extent
