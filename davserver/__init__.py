"""The server: the WebDAV provider over `stores`, WsgiDAV and Flask on one cheroot server."""
