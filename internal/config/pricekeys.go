package config

// ValidImagePriceKey reports whether k is a per_image key the gateway can
// match: "default", "WxH" or "WxH/quality" (as pricing: validates it). The
// console validates prices set through the API with it.
func ValidImagePriceKey(k string) bool { return validImageKey(k) }
