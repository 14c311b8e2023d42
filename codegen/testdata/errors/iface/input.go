package iface

type Bad interface {
	Put(e error) error
}
