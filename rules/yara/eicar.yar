/*
 * The EICAR antivirus test file. The standard says the file starts with the
 * 68-byte string and may be followed by white space, up to 128 bytes.
 */
rule EICAR_Test_File
{
    meta:
        severity = "malicious"
        description = "EICAR standard antivirus test file"
        reference = "https://www.eicar.org/download-anti-malware-testfile/"
    strings:
        $eicar = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
    condition:
        $eicar at 0 and filesize <= 128
}
