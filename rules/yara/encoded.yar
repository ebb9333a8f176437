/*
 * Base64 and hex blobs of scripts and text, decoded (intellidox_view ==
 * "base64" or "hex"; see docs/engines.md). Droppers carry their payload
 * that way: a PowerShell, VBScript, JScript, HTA or batch file, or a macro,
 * with a program or a second script encoded in a string. The view is the
 * decoded blob, so an executable in it starts at offset 0 and a command in
 * it reads in clear (in UTF-16LE for PowerShell's -EncodedCommand, hence
 * "wide"). These rules match only views: the same bytes as a file of their
 * own are left to the other rules.
 */

rule Encoded_Executable
{
    meta:
        severity = "suspicious"
        description = "Windows executable encoded as base64 or hex in a script or text"
    condition:
        (intellidox_view == "base64" or intellidox_view == "hex")
        and filesize > 0x40 and uint16(0) == 0x5A4D
        and uint32(0x3C) <= filesize - 4 and uint32(uint32(0x3C)) == 0x00004550
}

/*
 * A download cradle: code that fetches a script or a program and runs it.
 * Either half alone is common in administration scripts; encoded, and
 * together, they are how a dropper's first stage looks.
 */
rule Encoded_PowerShell_Download_Exec
{
    meta:
        severity = "malicious"
        description = "Encoded PowerShell that downloads code and runs it (IEX or Invoke-Expression with DownloadString, Invoke-WebRequest, ...)"
    strings:
        $iex1 = /\biex\s*[($'"]/ nocase ascii wide
        $iex2 = "Invoke-Expression" nocase ascii wide
        $iex3 = /\|\s*iex\b/ nocase ascii wide
        $dl1 = "DownloadString" nocase ascii wide
        $dl2 = "DownloadFile" nocase ascii wide
        $dl3 = "DownloadData" nocase ascii wide
        $dl4 = "Invoke-WebRequest" nocase ascii wide
        $dl5 = "Invoke-RestMethod" nocase ascii wide
        $dl6 = "Net.WebClient" nocase ascii wide
        $dl7 = "Start-BitsTransfer" nocase ascii wide
    condition:
        (intellidox_view == "base64" or intellidox_view == "hex")
        and any of ($iex*) and any of ($dl*)
}
