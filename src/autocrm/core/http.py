"""Small response helpers shared by pages and the API."""

from urllib.parse import quote

from django.http import FileResponse, HttpResponse

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def ascii_filename(filename: str) -> str:
    """``filename`` with every character that is not a plain ASCII letter, digit or ``-_.``
    replaced by ``_``: the fallback name for clients that do not read ``filename*``."""
    return "".join(ch if ch.isascii() and (ch.isalnum() or ch in "-_.") else "_" for ch in filename)


def download(
    content: bytes,
    filename: str,
    content_type: str,
    *,
    inline: bool = False,
    fallback: str | None = None,
) -> HttpResponse:
    """A file the browser saves (``inline``: shows, e.g. a PDF to print); never cached (it
    usually holds personal data). A name that is not plain ASCII also goes in ``filename*``
    (RFC 6266), with ``fallback`` (by default the name made ASCII) for old clients."""
    response = HttpResponse(content, content_type=content_type)
    plain = ascii_filename(filename)
    disposition = f'{"inline" if inline else "attachment"}; filename="{fallback or plain}"'
    if plain != filename:
        disposition += f"; filename*=UTF-8''{quote(filename)}"
    response["Content-Disposition"] = disposition
    response["Cache-Control"] = "no-store"
    return response


def stream_download(file, filename: str, content_type: str) -> FileResponse:
    """``download`` for an open (binary) file, streamed rather than read into memory."""
    response = FileResponse(file, as_attachment=True, filename=filename, content_type=content_type)
    response["Cache-Control"] = "no-store"
    return response
