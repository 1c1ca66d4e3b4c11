"""flychat: a realtime chat backend with SSE streams held by a GRIP proxy or by the app itself."""
