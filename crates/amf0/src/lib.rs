//! AMF0 (and the AMF3 command switch) encoder and decoder, sans-IO.
