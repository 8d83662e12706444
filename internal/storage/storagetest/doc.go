// Package storagetest holds the contract suite of storage.Store. Every
// implementation runs it from its own tests:
//
//	func TestStore(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) storage.Store { return newStore(t) })
//	}
//
// Each subtest writes only under its own key prefix, so newStore may hand
// every subtest the same store. The subtests run one after another, because
// one of them compacts the store's history.
package storagetest
