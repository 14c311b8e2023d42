package notinterface

type Bad struct{}
