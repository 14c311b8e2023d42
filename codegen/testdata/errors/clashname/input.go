package clashname

type Bad interface{ Get() (int, error) }

func NewBadClient() {}
