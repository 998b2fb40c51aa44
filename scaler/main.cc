// nim-scaler's entry point: everything happens in app::Main().
#include "scaler/app/app.h"

int main(int argc, char** argv) { return nimscaler::app::Main(argc, argv); }
