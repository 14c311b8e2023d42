package notype

type Here interface{ Get() (int, error) }
