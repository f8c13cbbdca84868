"""The dispatcher: signed webhook delivery with retry topics, a dead-letter topic and redrive."""
