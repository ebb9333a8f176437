/*
 * Office documents with VBA macros.
 *
 * How rules see Office files:
 * - Legacy documents (.doc, .xls) are OLE compound files; the VBA project is
 *   a storage inside them.
 * - OOXML documents (.docm, .xlsm, ...) are zip archives, and their VBA
 *   project is the member word/vbaProject.bin (xl/, ppt/), itself an OLE
 *   compound file. The member is deflated, so a rule run on the container
 *   sees only the member's name in the zip headers, never its content.
 *
 * The yara engine therefore scans every zip member as well as the container
 * (see docs/engines.md), and the macro rule below is written for the OLE
 * content, which it sees either as the whole file (.doc) or as the
 * extracted vbaProject.bin member (.docm).
 *
 * Inside the VBA project the module source is MS-OVBA compressed: a flag
 * byte every eight literals splits words, so the procedure names are not
 * reliably contiguous there. Office also keeps the project's identifiers in
 * clear in the _VBA_PROJECT stream, which is what the rule relies on, as
 * public rules of this kind do. A project written without that cache is
 * left to Office_VBA_AutoOpen_Shell below, which reads the source the
 * engine decompresses (the "vba" view).
 */
rule Office_VBA_AutoExec
{
    meta:
        severity = "suspicious"
        description = "VBA project with a macro that runs when the document opens"
    strings:
        $vba_project = "_VBA_PROJECT" wide
        $vba_dir = "VBA" wide fullword
        $auto1 = "AutoOpen" ascii nocase fullword
        $auto2 = "Auto_Open" ascii nocase fullword
        $auto3 = "Document_Open" ascii nocase fullword
        $auto4 = "Workbook_Open" ascii nocase fullword
        $auto5 = "AutoExec" ascii nocase fullword
        $auto6 = "AutoNew" ascii nocase fullword
        $auto7 = "Document_New" ascii nocase fullword
        $auto8 = "Auto_Close" ascii nocase fullword
        $auto9 = "AutoClose" ascii nocase fullword
        $auto10 = "Document_Close" ascii nocase fullword
        $auto11 = "Workbook_Activate" ascii nocase fullword
    condition:
        uint32be(0) == 0xD0CF11E0 and uint32be(4) == 0xA1B11AE1
        and $vba_project and $vba_dir and any of ($auto*)
}

/*
 * A macro-enabled OOXML container: informational, it does not change the
 * outcome on its own (many business documents carry macros), but the
 * detail of the result names it.
 */
rule OOXML_VBA_Project
{
    meta:
        severity = "info"
        description = "OOXML document that carries a VBA project"
    strings:
        $member = /(word|xl|ppt)\/vbaProject\.bin/
    condition:
        uint32be(0) == 0x504B0304 and $member
}

/*
 * The decoded view of a VBA module (intellidox_view == "vba"): the source
 * text the engine decompresses from the module stream (MS-OVBA), which the
 * raw bytes never show reliably. A macro that runs when the document opens
 * and starts a program is how macro droppers work; legitimate documents
 * that shell out on open are rare enough to call this malicious, as
 * olevba's AutoExec plus Suspicious keywords do.
 */
rule Office_VBA_AutoOpen_Shell
{
    meta:
        severity = "malicious"
        description = "VBA macro that runs when the document opens and starts a program (Shell, WScript.Shell)"
    strings:
        $auto1 = /\bSub\s+(Auto_?Open|Document_Open|Workbook_Open|AutoExec|AutoNew|Document_New)\s*\(/ nocase
        $exec1 = /(^|[^A-Za-z0-9_.])(VBA\.)?Shell\s*[ (]/ nocase
        $exec2 = "WScript.Shell" nocase
        $exec3 = "Shell.Application" nocase
        $exec4 = "ShellExecute" nocase
    condition:
        intellidox_view == "vba" and any of ($auto*) and any of ($exec*)
}
