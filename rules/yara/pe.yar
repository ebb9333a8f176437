import "pe"

/*
 * Windows executables with the section names of common packers. Packing
 * hides code from static inspection; legitimate software rarely ships
 * packed, so a packed executable is suspicious, not malicious.
 */
rule PE_Packer_Sections
{
    meta:
        severity = "suspicious"
        description = "Windows executable packed with a common packer (UPX, ASPack, MPRESS, PECompact, Petite, ...)"
    condition:
        pe.is_pe and for any s in pe.sections : (
            s.name == "UPX0" or s.name == "UPX1" or s.name == "UPX2" or s.name == "UPX!" or
            s.name == ".aspack" or s.name == ".adata" or
            s.name == ".MPRESS1" or s.name == ".MPRESS2" or
            s.name == ".petite" or s.name == "pec1" or s.name == "PEC2" or s.name == "PECompact2" or
            s.name == ".nsp0" or s.name == ".nsp1" or s.name == ".nsp2" or
            s.name == "FSG!" or s.name == ".packed" or s.name == ".RLPack" or
            s.name == ".themida" or s.name == ".vmp0" or s.name == ".vmp1" or
            s.name == "MEW" or s.name == ".yP" or s.name == ".perplex"
        )
}
