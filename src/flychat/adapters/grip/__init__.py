"""Publishing to GRIP proxies: proxy URLs and the publisher."""
