/*
 * Files embedded in documents (intellidox_view == "embedded"; see
 * docs/engines.md): attachments of PDFs, and OLE objects of Office
 * documents, above all Packager's, which wraps any file in an icon a click
 * runs. The view is the embedded file as it was attached, so the other
 * rules (EICAR, PE) see it too; this one flags an executable hidden in a
 * document, which mail filters that block .exe attachments let through.
 */

rule Embedded_Executable
{
    meta:
        severity = "suspicious"
        description = "Windows executable attached to a PDF or embedded as an OLE object in an Office document"
    condition:
        intellidox_view == "embedded"
        and filesize > 0x40 and uint16(0) == 0x5A4D
        and uint32(0x3C) <= filesize - 4 and uint32(uint32(0x3C)) == 0x00004550
}
